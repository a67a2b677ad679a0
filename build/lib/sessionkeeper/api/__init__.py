"""HTTP only: validate, call a service, map the result."""
