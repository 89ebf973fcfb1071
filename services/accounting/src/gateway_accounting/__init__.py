"""Accounting: projects, credentials, spend and usage analytics."""
