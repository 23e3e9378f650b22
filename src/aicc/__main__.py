from aicc.cli import main

raise SystemExit(main())
