"""The JSON API of Wenming, for programs that work the task inbox."""
