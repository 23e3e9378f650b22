"""The overview's live figures: collected once per interval for every replica, drawn as
small server-side SVG charts, pushed to the browser by server-sent events."""
