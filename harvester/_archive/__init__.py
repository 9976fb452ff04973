"""Storing results in one transaction: documents, results, cursors, fan-out claims, runs."""
