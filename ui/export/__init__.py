"""The Export page's parts."""
