// expect: WA
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
/* A unix socket is allowed, but no host socket is reachable through it. */
int main(void) { const char *p[] = {"/run/dbus/system_bus_socket", "/var/run/docker.sock", "/tmp/.X11-unix/X0", "/run/systemd/private"};
  for (int i = 0; i < 4; i++) { int s = socket(AF_UNIX, SOCK_STREAM, 0); struct sockaddr_un a = {.sun_family = AF_UNIX}; strncpy(a.sun_path, p[i], sizeof a.sun_path - 1); if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0) { puts("3"); return 0; } } return 0; }
