use crate::assist::redact::redact;

#[test]
fn the_text_sent_to_the_llm_is_normalised_around_intact_placeholders() {
    let r = redact("Ma CARTE, CIN AB123456 !!! 🙂 email karim@example.ma");
    assert_eq!(r.normalized(), "ma carte cin [CIN] email [EMAIL]");
}
