"""Every side effect a workflow needs, as activity classes with injected dependencies."""
