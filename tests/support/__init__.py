"""Helpers the tests share: stack configs, AWS events, a Lambda-like sandbox. Never a test."""
