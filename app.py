"""Start the assistant's web app (`python app.py --help` lists every setting)."""

import argparse
import logging
import os
import threading

from assistant.config import add_arguments, from_arguments
from assistant.errors import ConfigError


def main(argv: list[str] | None = None) -> None:
    """Parse settings, warm the model up in the background, and serve the chat."""
    parser = argparse.ArgumentParser(description="Chat with the assistant in your browser. Flags override ASSISTANT_* variables.")
    add_arguments(parser)
    try:
        config = from_arguments(parser.parse_args(argv))
    except ConfigError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("GRADIO_TEMP_DIR", str(config.data_dir / "tmp"))  # uploaded recordings stay in the data dir
    from assistant import Assistant
    from ui import launch

    assistant = Assistant(config)
    threading.Thread(target=assistant.warm_up, name="warm-up", daemon=True).start()
    launch(assistant)


if __name__ == "__main__":
    main()
