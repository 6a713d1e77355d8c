"""The dashboard's Streamlit Custom Components v2 (``st.components.v2.component``): inline
HTML, CSS and JavaScript read from the files next to each module, no iframe, no build step."""
