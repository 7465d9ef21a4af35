"""The webmail's HTML views: thin, each parses input and calls a service or a selector."""
