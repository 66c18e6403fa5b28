"""Hypercare: the router. Settles the engagement, draws the shared filter bar, runs the chosen page.

Start with ./run.sh (or: streamlit run app.py). HYPERCARE_DB picks the store (a catalog of
engagements; made on first start with a Demo engagement, which HYPERCARE_NO_DEMO=1 skips).
"""

import streamlit as st

from analytics.store.auth import PermissionDenied
from ui import auth, connection, engagement_state, filter_bar, pages_folder, widgets

# The tab icon is set here, an emoji drawn inline: without it Streamlit makes each page's
# material icon the tab icon and fetches it from fonts.gstatic.com, a third-party host.
st.set_page_config(page_title="Hypercare", page_icon="📈", layout="wide")
# Tables' built-in CSV download writes ticket text raw (formula injection); ours is safe.
st.set_option("client.disableDataExport", True)
engagement_state.settle()  # first start, or the upgrade of a store made before engagements
auth.gate()  # shared mode: nothing below runs before sign-in (docs/auth.md)

engagement_state.open_installation()
filter_bar.filter_bar(connection.get_connection())
pages_folder.mark_routed()  # the page's start then knows this router ran first (ui/pages_folder.py)

pg = st.navigation(
    [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/upload.py", title="Upload & data", icon=":material/upload_file:"),
        st.Page("pages/sla.py", title="SLA compliance", icon=":material/timer:"),
        st.Page("pages/kpi_trends.py", title="KPI trends", icon=":material/trending_up:"),
        st.Page("pages/recurrence.py", title="Recurrence", icon=":material/repeat:"),
        st.Page("pages/governance.py", title="Governance", icon=":material/gavel:"),
        st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
        st.Page("pages/portfolio.py", title="Portfolio", icon=":material/view_list:"),
    ]
)
try:
    pg.run()
except PermissionDenied as exc:  # the core refused a write this person's roles don't allow
    st.error(widgets.escape_markdown(exc), icon=":material/block:")  # names come from the IdP
