from .startup import skip_slow_optional_imports

skip_slow_optional_imports()

from .cli import main  # noqa: E402  (after the line above, which speeds up its imports)

raise SystemExit(main())
