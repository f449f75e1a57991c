/* Envelope encryption: the master key, the keyring of data keys, sealing
 * and opening values with AES-256-GCM, the lookup HMAC (cc/seal.h). */
#include "cc/seal.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSION 1
#define NONCE 12
#define TAG 16
#define WRAP_LEN (CC_SEAL_OVERHEAD + CC_SEAL_KEY_BYTES)

typedef struct data_key {
    char id[CC_SEAL_ID_MAX];
    uint8_t key[CC_SEAL_KEY_BYTES];
} data_key;

struct cc_keyring {
    uint8_t master[CC_SEAL_KEY_BYTES];
    uint8_t lookup[32]; /* the HMAC key, derived from master */
    data_key *keys;
    size_t n, cap;
    int current; /* index in keys, -1 before any */
};

/* ---- the master key --------------------------------------------------------- */

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

cc_status cc_seal_master_parse(const char *text, uint8_t key[CC_SEAL_KEY_BYTES])
{
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
        text++;
    size_t n = 0;
    while (hexval(text[n]) >= 0)
        n++;
    const char *rest = text + n;
    while (*rest == ' ' || *rest == '\t' || *rest == '\n' || *rest == '\r')
        rest++;
    if (n != 2 * CC_SEAL_KEY_BYTES || *rest)
        return cc_err_set(CC_INVALID, "a master key is %d hex digits", 2 * CC_SEAL_KEY_BYTES);
    for (size_t i = 0; i < CC_SEAL_KEY_BYTES; i++)
        key[i] = (uint8_t)(hexval(text[2 * i]) << 4 | hexval(text[2 * i + 1]));
    return CC_OK;
}

cc_status cc_seal_master_load(const cc_seal_settings *cfg, uint8_t key[CC_SEAL_KEY_BYTES])
{
    if (cfg->master_key && cfg->master_key[0]) {
        if (cc_seal_master_parse(cfg->master_key, key) != CC_OK)
            return cc_err_set(CC_INVALID, "master-key: %s", cc_err_msg());
        return CC_OK;
    }
    const char *path = cfg->master_key_file;
    if (!path || !path[0])
        return cc_err_set(CC_INVALID,
                          "master-key or master-key-file: required (the key that wraps the data "
                          "keys of encrypted columns)");
    FILE *f = fopen(path, "re");
    if (!f)
        return cc_err_set(CC_IO, "master-key-file '%s': %s", path, strerror(errno));
    char line[256] = "";
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    cc_status s = ok ? cc_seal_master_parse(line, key) : CC_INVALID;
    OPENSSL_cleanse(line, sizeof line);
    if (s != CC_OK)
        return cc_err_set(CC_INVALID, "master-key-file '%s': not %d hex digits", path,
                          2 * CC_SEAL_KEY_BYTES);
    return CC_OK;
}

/* ---- AES-256-GCM ------------------------------------------------------------ */

static cc_status gcm_seal(const uint8_t key[CC_SEAL_KEY_BYTES], const void *aad, size_t aadlen,
                          const void *plain, size_t len, uint8_t *out)
{
    if (len > INT32_MAX || aadlen > INT32_MAX)
        return cc_err_set(CC_LIMIT, "seal: value too large");
    out[0] = VERSION;
    if (RAND_bytes(out + 1, NONCE) != 1)
        return cc_err_set(CC_INTERNAL, "seal: no random nonce");
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    bool ok = x && EVP_EncryptInit_ex(x, EVP_aes_256_gcm(), NULL, key, out + 1) == 1 &&
              (aadlen == 0 || EVP_EncryptUpdate(x, NULL, &n, aad, (int)aadlen) == 1) &&
              (len == 0 || EVP_EncryptUpdate(x, out + 1 + NONCE, &n, plain, (int)len) == 1) &&
              EVP_EncryptFinal_ex(x, out + 1 + NONCE + (len ? n : 0), &fin) == 1 &&
              EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, TAG, out + 1 + NONCE + len) == 1;
    EVP_CIPHER_CTX_free(x);
    return ok ? CC_OK : cc_err_set(CC_INTERNAL, "seal: AES-256-GCM failed");
}

static cc_status gcm_open(const uint8_t key[CC_SEAL_KEY_BYTES], const void *aad, size_t aadlen,
                          const uint8_t *sealed, size_t len, uint8_t *out, size_t *outlen)
{
    if (len < CC_SEAL_OVERHEAD || sealed[0] != VERSION)
        return cc_err_set(CC_DENIED, "open: not a sealed value");
    if (len > INT32_MAX || aadlen > INT32_MAX)
        return cc_err_set(CC_LIMIT, "open: value too large");
    size_t clen = len - CC_SEAL_OVERHEAD;
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    bool ok = x && EVP_DecryptInit_ex(x, EVP_aes_256_gcm(), NULL, key, sealed + 1) == 1 &&
              (aadlen == 0 || EVP_DecryptUpdate(x, NULL, &n, aad, (int)aadlen) == 1) &&
              (clen == 0 || EVP_DecryptUpdate(x, out, &n, sealed + 1 + NONCE, (int)clen) == 1) &&
              EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, TAG,
                                  (void *)(sealed + 1 + NONCE + clen)) == 1 &&
              EVP_DecryptFinal_ex(x, out + (clen ? n : 0), &fin) == 1;
    EVP_CIPHER_CTX_free(x);
    if (!ok) {
        OPENSSL_cleanse(out, clen);
        return cc_err_set(CC_DENIED, "open: the value does not open (another key or place, or "
                                     "changed)");
    }
    *outlen = clen;
    return CC_OK;
}

/* ---- the keyring ------------------------------------------------------------ */

cc_keyring *cc_keyring_new(const uint8_t master[CC_SEAL_KEY_BYTES])
{
    cc_keyring *kr = calloc(1, sizeof *kr);
    if (!kr)
        return NULL;
    memcpy(kr->master, master, CC_SEAL_KEY_BYTES);
    kr->current = -1;
    /* A key of its own for lookups, so the master key itself never keys
     * anything but the data keys. */
    static const char label[] = "codecourt lookup hmac v1";
    unsigned int l = 0;
    if (!HMAC(EVP_sha256(), master, CC_SEAL_KEY_BYTES, (const unsigned char *)label,
              sizeof label - 1, kr->lookup, &l)) {
        cc_keyring_free(kr);
        return NULL;
    }
    return kr;
}

void cc_keyring_free(cc_keyring *kr)
{
    if (!kr)
        return;
    if (kr->keys)
        OPENSSL_cleanse(kr->keys, kr->cap * sizeof *kr->keys);
    free(kr->keys);
    OPENSSL_cleanse(kr, sizeof *kr);
    free(kr);
}

static data_key *find(const cc_keyring *kr, const char *id)
{
    for (size_t i = 0; i < kr->n; i++)
        if (!strcmp(kr->keys[i].id, id))
            return &kr->keys[i];
    return NULL;
}

static cc_status add(cc_keyring *kr, const char *id, const uint8_t key[CC_SEAL_KEY_BYTES])
{
    if (strlen(id) >= CC_SEAL_ID_MAX || !id[0])
        return cc_err_set(CC_INVALID, "data key id '%.40s': 1 to %d characters", id,
                          CC_SEAL_ID_MAX - 1);
    if (kr->n == kr->cap) {
        size_t cap = kr->cap ? 2 * kr->cap : 4;
        data_key *k = calloc(cap, sizeof *k);
        if (!k)
            return cc_err_set(CC_NOMEM, "out of memory");
        if (kr->keys) {
            memcpy(k, kr->keys, kr->n * sizeof *k);
            OPENSSL_cleanse(kr->keys, kr->cap * sizeof *kr->keys);
            free(kr->keys);
        }
        kr->keys = k;
        kr->cap = cap;
    }
    snprintf(kr->keys[kr->n].id, CC_SEAL_ID_MAX, "%s", id);
    memcpy(kr->keys[kr->n].key, key, CC_SEAL_KEY_BYTES);
    kr->n++;
    return CC_OK;
}

static size_t wrap_aad(char *buf, size_t cap, const char *id)
{
    int n = snprintf(buf, cap, "cc-data-key/%s", id);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

cc_status cc_keyring_generate(cc_keyring *kr, char id[CC_SEAL_ID_MAX], uint8_t **wrapped,
                              size_t *wrapped_len)
{
    uint8_t key[CC_SEAL_KEY_BYTES], rid[8];
    if (RAND_bytes(key, sizeof key) != 1 || RAND_bytes(rid, sizeof rid) != 1)
        return cc_err_set(CC_INTERNAL, "data key: no random bytes");
    snprintf(id, CC_SEAL_ID_MAX, "k%02x%02x%02x%02x%02x%02x%02x%02x", rid[0], rid[1], rid[2],
             rid[3], rid[4], rid[5], rid[6], rid[7]);
    char aad[64];
    size_t aadlen = wrap_aad(aad, sizeof aad, id);
    uint8_t *w = malloc(WRAP_LEN);
    cc_status s = w ? gcm_seal(kr->master, aad, aadlen, key, sizeof key, w)
                    : cc_err_set(CC_NOMEM, "out of memory");
    IFOK(s, add(kr, id, key));
    OPENSSL_cleanse(key, sizeof key);
    if (s != CC_OK) {
        free(w);
        return s;
    }
    *wrapped = w;
    *wrapped_len = WRAP_LEN;
    return CC_OK;
}

cc_status cc_keyring_add_wrapped(cc_keyring *kr, const char *id, const uint8_t *wrapped, size_t len)
{
    if (find(kr, id))
        return CC_OK;
    char aad[64];
    size_t aadlen = wrap_aad(aad, sizeof aad, id);
    if (!aadlen)
        return cc_err_set(CC_INVALID, "data key id '%.40s' is too long", id);
    uint8_t key[WRAP_LEN];
    size_t klen = 0;
    cc_status s =
        len == WRAP_LEN ? gcm_open(kr->master, aad, aadlen, wrapped, len, key, &klen) : CC_DENIED;
    if (s != CC_OK || klen != CC_SEAL_KEY_BYTES)
        return cc_err_set(CC_DENIED,
                          "data key %s does not open with this master key (another master key, "
                          "or the stored key was changed)",
                          id);
    s = add(kr, id, key);
    OPENSSL_cleanse(key, sizeof key);
    return s;
}

cc_status cc_keyring_set_current(cc_keyring *kr, const char *id)
{
    data_key *k = find(kr, id);
    if (!k)
        return cc_err_set(CC_NOT_FOUND, "no data key '%s'", id);
    kr->current = (int)(k - kr->keys);
    return CC_OK;
}

const char *cc_keyring_current(const cc_keyring *kr)
{
    return kr->current >= 0 ? kr->keys[kr->current].id : "";
}

bool cc_keyring_has(const cc_keyring *kr, const char *id)
{
    return find(kr, id) != NULL;
}

size_t cc_keyring_count(const cc_keyring *kr)
{
    return kr->n;
}

/* ---- values ----------------------------------------------------------------- */

size_t cc_seal_aad(char *buf, size_t cap, const char *table, const char *id, const char *column)
{
    int n = snprintf(buf, cap, "%s/%s/%s", table, id, column);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

cc_status cc_seal(const cc_keyring *kr, const void *aad, size_t aadlen, const void *plain,
                  size_t len, uint8_t *out, char key_id[CC_SEAL_ID_MAX])
{
    if (kr->current < 0)
        return cc_err_set(CC_NOT_FOUND, "seal: no current data key");
    const data_key *k = &kr->keys[kr->current];
    snprintf(key_id, CC_SEAL_ID_MAX, "%s", k->id);
    return gcm_seal(k->key, aad, aadlen, plain, len, out);
}

cc_status cc_open(const cc_keyring *kr, const char *key_id, const void *aad, size_t aadlen,
                  const uint8_t *sealed, size_t len, uint8_t *out, size_t *outlen)
{
    const data_key *k = key_id ? find(kr, key_id) : NULL;
    if (!k)
        return cc_err_set(CC_NOT_FOUND, "open: no data key '%s'", key_id ? key_id : "");
    return gcm_open(k->key, aad, aadlen, sealed, len, out, outlen);
}

void cc_keyring_hmac(const cc_keyring *kr, const void *data, size_t len, uint8_t out[32])
{
    unsigned int l = 0;
    HMAC(EVP_sha256(), kr->lookup, sizeof kr->lookup, data, len, out, &l);
}
