// Package deploy holds what the container deployment needs beside the Dockerfile and
// docker-compose.yml at the repository's root (the proxy's nginx.conf), and the tests that keep
// those files true to the code: the compose file validates, names only variables loyaltyd
// reads, with values it accepts, and splits every role over its processes.
package deploy
