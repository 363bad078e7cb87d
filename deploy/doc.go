// Package deploy holds logserver's deployment files that are not Go: prometheus.yml for docker-compose.yml.
// Its tests check the deployment files of the whole repository (Dockerfile, .dockerignore, docker-compose.yml,
// k8s/, Grafana provisioning) against the code: paths exist, variables are ones the server reads, probes hit
// real routes, and the shutdown grace periods exceed SHUTDOWN_TIMEOUT.
package deploy
