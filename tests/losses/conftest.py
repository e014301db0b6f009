"""Puts this folder on sys.path so that tests import `loss_helpers`.

pytest runs with --import-mode=importlib, under which test modules cannot
import their siblings by default.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
