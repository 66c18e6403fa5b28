"""Hypercare: the router. Opens the store, draws the shared filter bar, runs the chosen page.

Start with ./run.sh (or: streamlit run app.py). HYPERCARE_DB picks the database file;
HYPERCARE_NO_DEMO=1 skips loading demo data into an empty store on first start.
"""

import streamlit as st

from analytics.auth import PermissionDenied
from ui import auth, state, widgets

# The tab icon is set here, an emoji drawn inline: without it Streamlit makes each page's
# material icon the tab icon and fetches it from fonts.gstatic.com, a third-party host.
st.set_page_config(page_title="Hypercare", page_icon="📈", layout="wide")
# Tables' built-in CSV download writes ticket text raw (formula injection); ours is safe.
st.set_option("client.disableDataExport", True)
auth.gate()  # shared mode: nothing below runs before sign-in (docs/auth.md)

con = state.ensure_demo_data(state.get_connection())
state.filter_bar(con)

pg = st.navigation(
    [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/upload.py", title="Upload & data", icon=":material/upload_file:"),
        st.Page("pages/sla.py", title="SLA compliance", icon=":material/timer:"),
        st.Page("pages/kpi_trends.py", title="KPI trends", icon=":material/trending_up:"),
        st.Page("pages/recurrence.py", title="Recurrence", icon=":material/repeat:"),
        st.Page("pages/governance.py", title="Governance", icon=":material/gavel:"),
        st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
    ]
)
try:
    pg.run()
except PermissionDenied as exc:  # the core refused a write this person's roles don't allow
    st.error(widgets.escape_markdown(exc), icon=":material/block:")  # names come from the IdP
