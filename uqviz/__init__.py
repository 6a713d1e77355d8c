"""uqviz: see when an image classifier does not know.

The core (everything here but ``uqviz.plots`` and ``uqviz.ui``) imports neither streamlit nor
plotly, so it runs headless on a GPU server.
"""

__version__ = "0.1.0"
