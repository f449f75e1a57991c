-- cc-notify: in-app notifications, emails with their delivery status, and
-- per-user preferences per event kind and channel.

-- natural_key is "<event kind>:<the event's key fields>" (rules.c): a
-- redelivered or republished event hits the unique index and adds nothing.
CREATE TABLE notifications (
    id           bigserial PRIMARY KEY,
    user_id      text NOT NULL,
    event        text NOT NULL,
    natural_key  text NOT NULL,
    title        text NOT NULL,
    body         text NOT NULL,
    link         text NOT NULL DEFAULT '',
    read         boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    read_at      timestamptz
);
CREATE UNIQUE INDEX notifications_key ON notifications (natural_key);
-- Lists: unread first, then newest first.
CREATE INDEX notifications_user ON notifications (user_id, read, id DESC);

-- One row per email: rendered when the event arrives, then sent by the
-- mailer with retries. locked_until is a claim, so two replicas never
-- send one row at once.
CREATE TABLE emails (
    id               bigserial PRIMARY KEY,
    natural_key      text NOT NULL,
    user_id          text NOT NULL,
    event            text NOT NULL,
    to_addr          text NOT NULL,
    subject          text NOT NULL,
    text_body        text NOT NULL,
    html_body        text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text NOT NULL DEFAULT '',
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE UNIQUE INDEX emails_key ON emails (natural_key);
CREATE INDEX emails_due ON emails (next_attempt_at) WHERE status = 'pending';

-- Only choices a user made are stored; the rule table gives the defaults.
CREATE TABLE preferences (
    user_id     text NOT NULL,
    event       text NOT NULL,
    channel     text NOT NULL CHECK (channel IN ('email', 'inapp')),
    enabled     boolean NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, event, channel)
);
