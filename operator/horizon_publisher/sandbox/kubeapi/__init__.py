"""sandbox/kubeapi."""
