"""Grad-CAM Explorer: the web app's entry point.

    streamlit run streamlit_app.py          (or: python3 run.py app)

The page itself lives in ``gradcam_app/page.py`` (its views in ``gradcam_app/views/``), so that an
installed package serves the same page (``gradcam-app``).
"""

from gradcam_app.page import main

main()
