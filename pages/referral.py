"""Referral threshold: choose which cases go to a human, see the consequences live, export."""

from uqviz.ui.frame import require_frame

require_frame()  # before the heavy imports: see uqviz/ui/frame.py

import streamlit as st

from uqviz.plots import confusion_matrix_figure, sensitivity_specificity_figure
from uqviz.ui.backend import (
    POLICY_KEY,
    NoImages,
    ensure_stream_comparison,
    stream_images,
)
from uqviz.ui.catalog import REFERRAL_MODES
from uqviz.ui.referral import (
    export_policies,
    guarantee_panel,
    operating_point_workbench,
    referral_values,
    score_select,
    team_panel,
    warm_up_workbench,
)
from uqviz.ui.state import current_dataset, current_methods, method_label
from uqviz.ui.widgets import case_captions, show_cases

st.title("Referral threshold")
st.caption("Cases whose uncertainty is above the threshold go to a human expert; the model "
           "decides the rest. Set the threshold directly, by budget, by target accuracy or by "
           "cost.")
warming = warm_up_workbench()  # the browser loads the workbench's code while we compute
dataset, methods = current_dataset(), current_methods()
comp = ensure_stream_comparison(dataset, methods)
if comp is None:
    st.stop()

c1, c2, c3 = st.columns([1, 1, 2])
method = c1.selectbox("Method", methods, key="ref_method", format_func=method_label,
                      bind="query-params")
study = comp.studies[method]
score = score_select(c2, study)  # probability, logit and feature scores
mode = c3.radio("Set the operating point by", list(REFERRAL_MODES), key="ref_mode",
                horizontal=True, format_func=REFERRAL_MODES.get, bind="query-params")


@st.fragment
def workbench(start: dict) -> None:
    # the slider, the numbers and the curve answer in the browser; what follows updates on
    # the committed value (release, or a pause in typing)
    point = operating_point_workbench(study, score, mode, start, source=dataset, method=method)
    detail = study.referral_detail(score, point)
    names = study.rows.names

    left, right = st.columns(2)
    left.plotly_chart(confusion_matrix_figure(detail.confusion, names, normalize=False,
                                              title="Automated cases"), theme=None,
                      key="ref_confusion")
    team_panel(right, study, score, point, method)

    st.subheader("Cases at the border")
    try:
        images = stream_images(dataset, study)
    except NoImages as err:
        st.info(f"{err}: the cases at the border cannot be shown as images.")
    else:
        for title, rows in [("Just below the threshold (automated)", detail.below),
                            ("Just above the threshold (referred)", detail.above)]:
            st.markdown(f"**{title}**")
            show_cases(images, rows, case_captions(study, score, rows))

    st.subheader("One class as positive")
    p1, p2, p3 = st.columns(3)
    positive = p1.selectbox("Positive class", list(range(len(names))),
                            format_func=lambda c: names[c], key="ref_positive")
    sens_target = p2.number_input("Target sensitivity (%)", 0.0, 100.0, 85.0, key="ref_sens")
    spec_target = p3.number_input("Target specificity (%)", 0.0, 100.0, 80.0, key="ref_spec")
    rates = study.one_vs_rest(score, point, positive)
    st.plotly_chart(sensitivity_specificity_figure(rates, sens_target / 100, spec_target / 100),
                    theme=None, key="ref_sens_spec")
    st.caption("Sensitivity and specificity on the automated cases, class "
               f"{names[positive]} against the rest, with 95% intervals and your targets.")

    guarantee = guarantee_panel(study, score)  # with the per-class targets
    export_policies(dataset, study, method=method, score=score, mode=mode, point=point,
                    guarantee=guarantee, mix=comp.mix, policy_key=POLICY_KEY)


workbench(referral_values())
warming.empty()
