"""The `nexus-quota` command line: jobs and admin actions over the same services as the API."""
