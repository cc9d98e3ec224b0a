"""What every picture shares: a matplotlib figure on the Agg canvas (no display, no pyplot state) and
its PNG file. matplotlib is imported here, on first use, so `import kerastune` never loads it."""

import os


def new_figure(width, height):
    """A `matplotlib.figure.Figure` of `width` x `height` inches drawn by the Agg (PNG) canvas.

    No `pyplot`: nothing global is created, so pictures can be drawn from threads, tests and servers
    without a display and without leaking open figures.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover
        raise ImportError("kerastune.plots draws with matplotlib: pip install 'matplotlib>=3.7'") from None
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def check_png_path(path):
    """Returns `path` as a str, or raises unless it names a `.png` file."""
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ValueError(f"The picture is written as PNG: pass a path ending in .png. Received: path={path!r}")
    return path


def save_png(figure, path, dpi=100):
    """Writes `figure` to `path` (parent folders made as needed) and returns `path`."""
    path = check_png_path(path)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    figure.savefig(path, format="png", dpi=dpi)
    return path
