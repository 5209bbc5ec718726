"""Leaderboard reports: markdown, html and image grids."""
