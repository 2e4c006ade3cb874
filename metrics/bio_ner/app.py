import os

import evaluate
from evaluate.utils import launch_gradio_widget

# As in evaluate's template, a Space loads the metric by its own id (Spaces set SPACE_ID, e.g. "ns/bio_ner");
# run anywhere else, it loads the script beside this file.
module = evaluate.load(
    os.environ.get("SPACE_ID") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "bio_ner.py")
)
launch_gradio_widget(module)
