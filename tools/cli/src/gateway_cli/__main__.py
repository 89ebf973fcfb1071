from gateway_cli.main import main

raise SystemExit(main())
