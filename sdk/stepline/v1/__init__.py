"""Generated from protos/stepline/v1 by scripts/gen_protos.py."""
