// The default policy, deploy/policy/england.yaml: lint-clean, its cases pass, it covers every
// notification type, and the properties the requirements ask of any policy hold over the whole
// request space (about 10^5 requests, each checked).
#include <functional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "broker/policy/policy_cases.h"
#include "broker/policy/policy_lint.h"
#include "broker/policy/sharing_policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace safeguard::policy {
namespace {

using protocol::NodeType;
using safeguard::v1::DisclosableField;

const std::string kPolicy = absl::StrCat(SAFEGUARD_POLICY_DIR, "/england.yaml");
const std::string kCases = absl::StrCat(SAFEGUARD_POLICY_DIR, "/england.cases.yaml");

class DefaultPolicyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto p = SharingPolicy::LoadFile(kPolicy);
    ASSERT_TRUE(p.ok()) << p.status();
    policy_ = new std::shared_ptr<const SharingPolicy>(*p);
  }
  static void TearDownTestSuite() { delete policy_; }
  const SharingPolicy& policy() { return **policy_; }

  // Calls `f` for every request a sending node could make, for every recipient.
  static void ForEachRequest(const std::function<void(const SharingRequest&)>& f) {
    SharingRequest r;
    for (int s = 0; s < kNodeTypeCount; ++s) {
      r.sender = static_cast<NodeType>(s);
      if (r.sender == NodeType::kAuditor) continue;
      for (auto type : AllNotificationTypes()) {
        r.type = type;
        for (int st = 0; st < kChildStatusCount; ++st) {
          r.child_status = static_cast<ChildStatus>(st);
          for (int c = 0; c < kConsentStateCount; ++c) {
            r.consent = static_cast<ConsentState>(c);
            for (bool risk : {false, true}) {
              r.risk_of_harm = risk;
              for (int role = 0; role < kRecipientRoleCount; ++role) {
                r.recipient = static_cast<RecipientRole>(role);
                f(r);
              }
            }
          }
        }
      }
    }
  }

  static std::shared_ptr<const SharingPolicy>* policy_;
};
std::shared_ptr<const SharingPolicy>* DefaultPolicyTest::policy_ = nullptr;

TEST_F(DefaultPolicyTest, IsLintClean) {
  LintReport report = LintPolicyFile(kPolicy);
  for (const Diagnostic& d : report.diagnostics) ADD_FAILURE() << d.ToString();
  EXPECT_TRUE(policy().warnings().empty());
}

TEST_F(DefaultPolicyTest, PassesItsCasesIncludingTheScenarios) {
  auto cases = LoadCaseFile(kCases);
  ASSERT_TRUE(cases.ok()) << cases.status();
  CaseResults results = RunCases(policy(), *cases);
  for (const CaseFailure& f : results.failures) {
    ADD_FAILURE() << f.file << ":" << f.line << ": " << f.case_name << ": " << f.message;
  }
  EXPECT_EQ(results.failed, 0);
  EXPECT_EQ(results.passed, static_cast<int>(cases->cases.size()));
  for (const char* scenario : {"SC-01", "SC-02", "SC-03", "SC-06"}) {
    int n = 0;
    for (const PolicyCase& c : cases->cases) n += absl::StartsWith(c.name, scenario);
    EXPECT_GE(n, 3) << scenario << " needs cases";
  }
}

// Coverage: every notification type in proto/safeguard/v1/notification.proto reaches the front
// door and the lead worker, from every sender, whatever the child's status and consent, when a
// risk of harm is indicated (REQ-LB-2, REQ-LB-4). A type added to the proto fails this test until
// the policy covers it.
TEST_F(DefaultPolicyTest, CoversEveryNotificationType) {
  ASSERT_EQ(AllNotificationTypes().size(), 34u) << "the proto changed: review the policy";
  ForEachRequest([&](const SharingRequest& r) {
    if (!r.risk_of_harm) return;
    if (r.recipient != RecipientRole::kFrontDoor && r.recipient != RecipientRole::kLeadWorker) {
      return;
    }
    Decision d = policy().Evaluate(r);
    ASSERT_TRUE(d.shared()) << FormatRequest(r);
    // The broker's own follow-up notices (a missed deadline, a drifting plan) rest on the
    // oversight basis; everything else an agency reports with a risk, on SG-RISK.
    bool follow_up = r.type == safeguard::v1::NOTIFICATION_TYPE_ESCALATION ||
                     (r.type == safeguard::v1::NOTIFICATION_TYPE_PLAN_DRIFT &&
                      r.recipient == RecipientRole::kLeadWorker);
    EXPECT_EQ(d.basis->name, follow_up ? "SG-FOLLOW-UP" : "SG-RISK") << FormatRequest(r);
  });
}

TEST_F(DefaultPolicyTest, ConsentNeverChangesADecisionWhenRiskIsIndicated) {
  ForEachRequest([&](const SharingRequest& r) {
    if (!r.risk_of_harm || r.consent != ConsentState::kGiven) return;
    Decision given = policy().Evaluate(r);
    for (ConsentState c :
         {ConsentState::kNotSought, ConsentState::kRefused, ConsentState::kWithdrawn}) {
      SharingRequest other = r;
      other.consent = c;
      Decision d = policy().Evaluate(other);
      ASSERT_EQ(d.outcome, given.outcome) << FormatRequest(other);
      ASSERT_EQ(d.rule_id, given.rule_id) << FormatRequest(other);
      ASSERT_EQ(d.disclosed, given.disclosed) << FormatRequest(other);
      if (d.shared()) {
        ASSERT_NE(d.basis->consent, "given") << FormatRequest(other);
        ASSERT_FALSE(d.basis->consent.empty()) << FormatRequest(other);
      }
    }
  });
}

TEST_F(DefaultPolicyTest, EveryDecisionRecordIsComplete) {
  ForEachRequest([&](const SharingRequest& r) {
    Decision d = policy().Evaluate(r);
    ASSERT_FALSE(d.rule_id.empty());
    ASSERT_FALSE(d.reason.empty());
    ASSERT_FALSE(d.citations.empty()) << FormatRequest(r);
    ASSERT_EQ(d.policy_digest.size(), 64u);
    ASSERT_EQ(d.disclosed.Minus(d.withheld), d.disclosed);
    ASSERT_EQ(FieldSet::All().Minus(d.disclosed), d.withheld);
    if (d.shared()) {
      ASSERT_TRUE(d.basis);
      bool uk = d.basis->regime == Regime::kUkGdpr;
      ASSERT_EQ(uk, r.sender != NodeType::kPolice) << FormatRequest(r);
      ASSERT_FALSE(uk ? d.basis->article6.empty() : d.basis->lawful_processing.empty());
      ASSERT_FALSE(d.basis->statutory_gateway.empty());
      ASSERT_FALSE(d.basis->consent.empty());
      ASSERT_FALSE(d.purpose.empty());
      ASSERT_FALSE(d.deadline.empty());
      ASSERT_FALSE(d.disclosed.empty());
    } else {
      ASSERT_FALSE(d.basis);
      ASSERT_TRUE(d.disclosed.empty());
    }
  });
}

TEST_F(DefaultPolicyTest, FieldsStayWithinNeedToKnow) {
  ForEachRequest([&](const SharingRequest& r) {
    Decision d = policy().Evaluate(r);
    if (!d.shared()) return;
    RecipientRole to = r.recipient;
    ASSERT_NE(to, RecipientRole::kAuditor);
    bool police_details = d.disclosed.Contains(safeguard::v1::DISCLOSABLE_FIELD_POLICE_DETAILS);
    bool health_details = d.disclosed.Contains(safeguard::v1::DISCLOSABLE_FIELD_HEALTH_DETAILS);
    if (police_details) {
      ASSERT_TRUE(to == RecipientRole::kFrontDoor || to == RecipientRole::kSocialCare)
          << FormatRequest(r);
    }
    if (health_details) {
      ASSERT_TRUE(to == RecipientRole::kFrontDoor || to == RecipientRole::kSocialCare ||
                  to == RecipientRole::kGp || to == RecipientRole::kHealth)
          << FormatRequest(r);
    }
    if (to == RecipientRole::kSchool) {
      ASSERT_EQ(d.disclosed.ToString(), "child-identity, summary") << FormatRequest(r);
    }
  });
}

TEST_F(DefaultPolicyTest, AuditorsNeverReceiveAndNeverSend) {
  ForEachRequest([&](const SharingRequest& r) {
    if (r.recipient != RecipientRole::kAuditor) return;
    Decision d = policy().Evaluate(r);
    ASSERT_EQ(d.rule_id, "auditors-read-the-log");
    ASSERT_FALSE(d.shared());
  });
  SharingRequest from_auditor;
  from_auditor.sender = NodeType::kAuditor;
  from_auditor.type = safeguard::v1::NOTIFICATION_TYPE_CONCERN_REFERRAL;
  from_auditor.risk_of_harm = true;
  for (const Decision& d : policy().EvaluateAll(from_auditor)) EXPECT_FALSE(d.shared());
}

// The decision table built at load time agrees with resolving the request rule by rule.
TEST_F(DefaultPolicyTest, TheTableAgreesWithRuleByRuleResolution) {
  int checked = 0;
  ForEachRequest([&](const SharingRequest& r) {
    if (++checked % 7 != 0) return;  // a seventh of the space keeps this test quick
    Explanation e = policy().Explain(r);
    std::string decided = kDefaultWithholdRuleId;
    for (const RuleTrace& t : e.rules) {
      if (t.verdict == RuleTrace::Verdict::kDecided) decided = t.rule_id;
    }
    ASSERT_EQ(e.decision.rule_id, decided) << FormatRequest(r);
  });
  EXPECT_GT(checked, 90000);
}

// Flags: what each role that registers the children it serves is told about each kind of plan.
TEST_F(DefaultPolicyTest, FlagsForEveryRoleAndStatus) {
  using F = FlagField;
  const std::set<F> all = {F::kPlanType, F::kLeadWorker, F::kEscalationContact, F::kPlanDates};
  const std::set<F> school = {F::kPlanType, F::kLeadWorker, F::kEscalationContact};
  const std::set<F> early_help = {F::kPlanType, F::kLeadWorker};
  struct Want {
    RecipientRole role;
    ChildStatus status;
    const char* basis;  // nullptr: no flag
    std::set<F> fields;
    bool record_check_silent;
  };
  std::vector<Want> wants;
  for (RecipientRole r : {RecipientRole::kGp, RecipientRole::kHealth}) {
    wants.push_back({r, ChildStatus::kEarlyHelp, "CONSENT", early_help, true});
    wants.push_back({r, ChildStatus::kChildInNeed, "SG-PLAN", all, true});
    wants.push_back({r, ChildStatus::kChildProtection, "SG-CP", all, true});
    wants.push_back({r, ChildStatus::kLookedAfter, "SG-PLAN", all, true});
    wants.push_back({r, ChildStatus::kNoPlan, nullptr, {}, false});
  }
  wants.push_back({RecipientRole::kSchool, ChildStatus::kEarlyHelp, nullptr, {}, false});
  wants.push_back({RecipientRole::kSchool, ChildStatus::kChildInNeed, "SG-PLAN", school, false});
  wants.push_back({RecipientRole::kSchool, ChildStatus::kChildProtection, "SG-CP", school, false});
  wants.push_back({RecipientRole::kSchool, ChildStatus::kLookedAfter, "SG-PLAN", school, false});
  wants.push_back({RecipientRole::kSchool, ChildStatus::kNoPlan, nullptr, {}, false});
  for (const Want& w : wants) {
    FlagDecision d = policy().EvaluateFlag({w.role, w.status});
    std::string what = FormatFlagRequest(d.request);
    ASSERT_EQ(d.shared, w.basis != nullptr) << what;
    EXPECT_FALSE(d.reason.empty()) << what;
    EXPECT_FALSE(d.citations.empty()) << what;
    EXPECT_EQ(d.policy_digest, policy().digest());
    if (!d.shared) {
      EXPECT_EQ(d.rule_id, kDefaultFlagRuleId) << what;
      continue;
    }
    EXPECT_EQ(d.basis->name, w.basis) << what;
    EXPECT_EQ(d.fields, w.fields) << what;
    EXPECT_EQ(d.SilentLookUp(LookupReason::kRecordCheck), w.record_check_silent) << what;
    // Attendance and registration always notify the lead worker.
    EXPECT_FALSE(d.SilentLookUp(LookupReason::kAttendance)) << what;
    EXPECT_FALSE(d.SilentLookUp(LookupReason::kRegistration)) << what;
    EXPECT_FALSE(d.basis->consent.empty()) << what;
    EXPECT_FALSE(d.basis->statutory_gateway.empty()) << what;
  }
  // Nobody else is ever flagged.
  for (int r = 0; r < kRecipientRoleCount; ++r) {
    auto role = static_cast<RecipientRole>(r);
    if (IsFlagRecipient(role)) continue;
    for (int s = 0; s < kChildStatusCount; ++s) {
      EXPECT_FALSE(policy().EvaluateFlag({role, static_cast<ChildStatus>(s)}).shared);
    }
  }
}

// Without a risk flag, an attendance or look-up notice about a flagged child reaches only the
// lead worker (and social care for an attendance), with identity, summary and details.
TEST_F(DefaultPolicyTest, AttendanceAndLookUpNoticesAreMinimised) {
  const FieldSet most = FieldSet::FromBits((1u << safeguard::v1::DISCLOSABLE_FIELD_CHILD_IDENTITY) |
                                           (1u << safeguard::v1::DISCLOSABLE_FIELD_SUMMARY) |
                                           (1u << safeguard::v1::DISCLOSABLE_FIELD_DETAILS));
  int shared = 0;
  ForEachRequest([&](const SharingRequest& r) {
    bool attendance = r.type == safeguard::v1::NOTIFICATION_TYPE_HEALTH_ATTENDANCE;
    bool look_up = r.type == safeguard::v1::NOTIFICATION_TYPE_FLAG_LOOKED_UP;
    if ((!attendance && !look_up) || r.risk_of_harm) return;
    Decision d = policy().Evaluate(r);
    if (!d.shared()) return;
    ++shared;
    ASSERT_TRUE(r.recipient == RecipientRole::kLeadWorker ||
                (attendance && r.recipient == RecipientRole::kSocialCare))
        << FormatRequest(r);
    ASSERT_TRUE(most.ContainsAll(d.disclosed)) << FormatRequest(r);
    ASSERT_NE(r.child_status, ChildStatus::kNoPlan) << FormatRequest(r);
    // A look-up notice is only about a plan the looking-up role is flagged.
    if (look_up) {
      ASSERT_TRUE(policy().EvaluateFlag({RoleOf(r.sender), r.child_status}).shared)
          << FormatRequest(r);
    }
  });
  EXPECT_GT(shared, 0);
  SharingRequest cp;
  cp.sender = NodeType::kHealth;
  cp.type = safeguard::v1::NOTIFICATION_TYPE_HEALTH_ATTENDANCE;
  cp.child_status = ChildStatus::kChildProtection;
  cp.recipient = RecipientRole::kLeadWorker;
  Decision d = policy().Evaluate(cp);
  EXPECT_EQ(d.rule_id, "health-attendance-cp");
  EXPECT_EQ(d.deadline, "same-day");
  cp.type = safeguard::v1::NOTIFICATION_TYPE_FLAG_LOOKED_UP;
  cp.sender = NodeType::kGp;
  d = policy().Evaluate(cp);
  EXPECT_EQ(d.rule_id, "flag-looked-up-cp");
  EXPECT_EQ(d.basis->name, "SG-CP");
  EXPECT_EQ(d.deadline, "one-working-day");
}

}  // namespace
}  // namespace safeguard::policy
