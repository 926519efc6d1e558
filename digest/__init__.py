"""digest: build, preview and send the weekly SAFE Newsfeed safeguarding digest."""

__version__ = "0.1.0"
