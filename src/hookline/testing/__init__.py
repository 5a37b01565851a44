"""`hookline test`: offline pipeline tests (docs/testing.md).

Nothing here is imported by a plain run: `run-pipeline` never loads this package.
"""
