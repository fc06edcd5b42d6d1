# A package, not a plain directory: its package-scoped Playwright fixtures (conftest.py) stop the
# browser, and Playwright's event loop with it, when the last browser test has run.
