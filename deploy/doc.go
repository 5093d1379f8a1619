// Package deploy holds the container deployment example: compose.yaml
// (PostgreSQL, two tether instances and Caddy), the configuration the
// instances share (tether.yaml) and Caddy's (Caddyfile). Its tests check
// those files and the repository's Dockerfile without a container
// runtime: the Dockerfile's build line builds the binary the tests use,
// and the configuration compose.yaml implies loads through package
// config. It has no code of its own.
package deploy
