//! The test citizens the dev IdP offers on its login page: Moroccan names, obviously fake
//! identifiers (`ZZ` card numbers, `example.test` mail), three ordinary citizens and one
//! professional (a notary), so the demo and the tests can show both portal profiles and both
//! assurance levels.

/// Which portal profile a person uses, carried as the `profile` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A private person.
    Citizen,
    /// A professional acting for clients (notary, lawyer, accountant...).
    Professional,
}

impl Profile {
    /// The claim value: `citizen` or `professional`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Citizen => "citizen",
            Profile::Professional => "professional",
        }
    }
}

/// One test account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Citizen {
    /// The stable subject identifier (`sub`).
    pub sub: &'static str,
    /// A fake national identity card number (CNIE); the `ZZ` prefix is not a real one.
    pub cnie: &'static str,
    /// `given_name`.
    pub given_name: &'static str,
    /// `family_name`.
    pub family_name: &'static str,
    /// `name`, in Latin script.
    pub name: &'static str,
    /// The name in Arabic script, shown on the login page.
    pub name_ar: &'static str,
    /// `email` (on the reserved `example.test` domain).
    pub email: &'static str,
    /// The `profile` claim.
    pub profile: Profile,
    /// The `acr` claim: `eidas2` (substantial, e.g. card + PIN) or `loa2`.
    pub acr: &'static str,
    /// A short description for the login page (occupation, city).
    pub about: &'static str,
}

const CITIZENS: &[Citizen] = &[
    Citizen {
        sub: "ma-dev-0001",
        cnie: "ZZ100001",
        given_name: "Amina",
        family_name: "El Idrissi",
        name: "Amina El Idrissi",
        name_ar: "أمينة الإدريسي",
        email: "amina.elidrissi@example.test",
        profile: Profile::Citizen,
        acr: "loa2",
        about: "Rabat",
    },
    Citizen {
        sub: "ma-dev-0002",
        cnie: "ZZ100002",
        given_name: "Youssef",
        family_name: "Benjelloun",
        name: "Youssef Benjelloun",
        name_ar: "يوسف بنجلون",
        email: "youssef.benjelloun@example.test",
        profile: Profile::Citizen,
        acr: "eidas2",
        about: "Fès",
    },
    Citizen {
        sub: "ma-dev-0003",
        cnie: "ZZ100003",
        given_name: "Fatima Zahra",
        family_name: "Alaoui",
        name: "Fatima Zahra Alaoui",
        name_ar: "فاطمة الزهراء العلوي",
        email: "maitre.alaoui@example.test",
        profile: Profile::Professional,
        acr: "eidas2",
        about: "Notaire / notary, Casablanca",
    },
    Citizen {
        sub: "ma-dev-0004",
        cnie: "ZZ100004",
        given_name: "Hamza",
        family_name: "Ait Ouahmane",
        name: "Hamza Ait Ouahmane",
        name_ar: "حمزة آيت واحمان",
        email: "hamza.aitouahmane@example.test",
        profile: Profile::Citizen,
        acr: "loa2",
        about: "Agadir",
    },
];

/// The test accounts, in the order the login page lists them.
pub fn citizens() -> &'static [Citizen] {
    CITIZENS
}

/// The test citizen whose `sub` is `sub`.
pub(crate) fn by_sub(sub: &str) -> Option<&'static Citizen> {
    CITIZENS.iter().find(|c| c.sub == sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_is_a_professional_and_citizens_with_unique_subjects() {
        let all = citizens();
        assert!(all.len() >= 4);
        assert!(all.iter().any(|c| c.profile == Profile::Professional));
        assert!(all.iter().filter(|c| c.profile == Profile::Citizen).count() >= 2);
        for (i, c) in all.iter().enumerate() {
            assert!(all[..i].iter().all(|o| o.sub != c.sub), "{} twice", c.sub);
            assert_eq!(by_sub(c.sub), Some(c));
            assert!(matches!(c.acr, "eidas2" | "loa2"));
        }
    }
}
