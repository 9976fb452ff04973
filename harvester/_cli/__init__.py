"""The click commands (thin over the packages below), the demo and the output formats."""
