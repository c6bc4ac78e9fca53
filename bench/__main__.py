"""Placeholder until the bench issue lands: lists the backends."""

from engine.__main__ import main

raise SystemExit(main())
