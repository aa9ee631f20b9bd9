"""sandbox/openshift."""
