// Package deploy has no code. Its directory holds the files operators deploy
// with — the Prosody and ejabberd configurations (the same files the
// integration tests start the servers from), the helpers docker-compose.yml
// mounts (docker/), the systemd unit (systemd/) and the reverse-proxy
// snippet (nginx/) — and the tests that check them together with the
// top-level Dockerfile and docker-compose.yml: the compose file parses and
// only refers to files that exist (or that the operator guide tells the
// operator to create), every image tag is pinned, every long-running
// service has a health check, only the portal publishes a port, secrets come
// through *_FILE variables, the set-up scripts render the shipped configs
// unchanged, and the unit and the nginx snippet pass systemd's and nginx's
// own checks when those programs are installed.
package deploy
