"""The container image: build context, Docker SDK build, host preflight, container entry point."""
