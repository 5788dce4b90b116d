"""Helpers the tests share: pixel samples, JPEG 2000 codestream headers, the app in-process, PostgreSQL, events."""
