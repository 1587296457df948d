"""Data sets that fastrnn ships."""
