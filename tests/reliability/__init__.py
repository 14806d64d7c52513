"""The reliability suite: crash/resume, hostile input, tenant isolation and load (`make reliability`)."""
