"""Issues: the weekly draft an editor reviews, and its rendering as a mail and an archive page."""
