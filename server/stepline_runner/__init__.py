"""The Stepline runner: drives workflow graphs of remote executors in supersteps."""
