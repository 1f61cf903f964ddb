"""`python -m stepline.conformance HOST:PORT`, the same as `stepline-conformance`."""

from stepline.conformance.cli import main

raise SystemExit(main())
