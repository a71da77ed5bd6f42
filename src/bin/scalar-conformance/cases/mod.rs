//! The cases, each citing the part of docs/PROTOCOL.md it checks, one file per part of the
//! protocol. A case returns `Ok(Pass)`, `Ok(Skip(why))` when the server lacks an optional
//! feature (or the run lacks what the case needs, such as an account), `Ok(Advisory(..))`
//! when the server does not do what a SHOULD of PROTOCOL.md recommends (one of the [`Should`]s below),
//! or `Err(what went wrong)`: a MUST broken.

use crate::wire::*;
use ciborium::Value;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How a case ended, when it did not fail.
pub enum Verdict {
    /// It passed.
    Pass,
    /// The server lacks what it tests.
    Skip(String),
    /// The server does not do what `Should` recommends (what it did instead is the text): not
    /// a failure, since RFC 2119 lets a server weigh a SHOULD, nor a skip, which reads as an
    /// optional feature left out. An implementer sees the two apart from a broken MUST.
    Advisory(Should, String),
}
use Verdict::Pass;

/// A SHOULD (or SHOULD NOT) of docs/PROTOCOL.md that a case checks: the only rules whose
/// breach is [`Verdict::Advisory`] rather than a failure.
#[derive(Clone, Copy, Debug)]
pub struct Should {
    /// Where PROTOCOL.md says it.
    pub section: &'static str,
    /// Its words, as PROTOCOL.md has them (a test checks that they are still there, so that
    /// a SHOULD made a MUST, or reworded, is seen).
    pub says: &'static str,
}

/// An [`Advisory`](Verdict::Advisory): the server does not meet `should`; `what` says what it
/// did instead.
pub(super) fn advisory(should: Should, what: &str) -> Result<Verdict, Fail> {
    Ok(Verdict::Advisory(should, what.to_string()))
}

/// §1: a ClientHello on a plain port.
pub(super) const CLIENT_HELLO: Should = Should {
    section: "§1",
    says: "A plain port whose client's first bytes are a TLS record's (`16 03`, a ClientHello) \
           SHOULD answer at once with Error `malformed` (100) and Bye, and close",
};
/// §4 Message: direct messages to an account that is away.
pub(super) const AWAY_INBOX: Should = Should {
    section: "§4 Message",
    says: "A server that keeps history SHOULD accept a direct message to an **account** of its \
           own that has no connection, and store it",
};
/// §4 Blocks: the registered-only mode of one's own ID.
pub(super) const REGISTERED_ONLY_ID: Should = Should {
    section: "§4 Blocks",
    says: "A server that keeps accounts SHOULD offer the mode",
};
/// §8 Waits: the wait in a refusal, for programs.
pub(super) const RETRY_AFTER: Should = Should {
    section: "§8 Waits",
    says: "SHOULD say it for programs too, as `retry_after` (key 62)",
};
/// §4 Search: a starred word.
pub(super) const STARRED_WORD: Should = Should {
    section: "§4 Search",
    says: "A query word of two characters or more followed at once by `*` SHOULD match every \
           word that begins with it, as well as itself",
};

/// §4 Channels: a ban's reason, told in the 801.
pub(super) const BAN_REASON: Should = Should {
    section: "§4 Channels",
    says: "A server SHOULD keep the ban's `reason` (that of the latest ban of the pattern; none \
           if it gave none) and add it to the 801's reason",
};
/// §4 Channels: a mute's reason, told in the 802.
pub(super) const MUTE_REASON: Should = Should {
    section: "§4 Channels",
    says: "A server SHOULD keep the mute's `reason` as a ban's (that of the latest mute of the \
           pattern) and add it to the 802's reason",
};
/// §4 Server admins: a server ban's reason, told in the 807.
pub(super) const SERVER_BAN_REASON: Should = Should {
    section: "§4 Server admins",
    says: "a server SHOULD keep the Mod's `reason` with the ban and put it in the 807's reason",
};

/// §4 Other domains: a Vouch's `until`.
pub(super) const VOUCH_UNTIL: Should = Should {
    section: "§4 Other domains",
    says: "and then `until`, the token's expiry (a home SHOULD send it",
};

/// §4 Ident: a guest ID made of the name asked for, and kept across reconnections.
pub(super) const GUEST_NAME: Should = Should {
    section: "§4 Ident",
    says: "A server SHOULD make it of the name asked for, so that guests choose how others see \
           them, and keep that across reconnections",
};
/// §4 Ident: a guest ID for one session only.
pub(super) const GUEST_ID_ONCE: Should = Should {
    section: "§4 Ident",
    says: "A server SHOULD NOT give one guest ID to two sessions one after the other",
};

/// §9: replies to a client's own requests make no slow consumer.
pub(super) const PIPELINE_PUSHBACK: Should = Should {
    section: "§9",
    says: "while its output is backed up, the server SHOULD stop reading its requests (TCP then \
           pushes back on the client) rather than cut it off",
};

mod accounts;
mod admins;
mod channels;
mod flow;
mod framing;
mod history;
mod messages;
mod modes;
mod more;
mod precedence;
mod session;
mod timers;

/// What every case knows.
pub struct Ctx {
    /// The server, and how to reach it.
    pub dial: Dial,
    /// Its domain.
    pub domain: String,
    /// Makes this run's names differ from an earlier run's on the same server.
    pub run: String,
    /// The server's handshake timeout, in seconds, if the run may wait it out.
    pub handshake_timeout: Option<u64>,
    /// Its idle and ping timeouts, in seconds, likewise.
    pub idle_timeout: Option<u64>,
    /// See `idle_timeout`.
    pub ping_timeout: Option<u64>,
    /// Its subscription limit per connection, if the run knows it.
    pub max_subs: Option<u64>,
    /// An account (ID, password) on the server, for the authentication cases.
    pub account: Option<(String, String)>,
    /// A server admin's account (ID, password), for the cases of §4 Server admins.
    pub admin: Option<(String, String)>,
}

impl Ctx {
    /// A name no other case uses: `base` and a number.
    pub(super) fn fresh(&self, base: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        format!("{base}{}x{}", self.run, N.fetch_add(1, Ordering::Relaxed))
    }

    pub(super) fn user(&self, base: &str) -> String {
        format!("{}@{}", self.fresh(base), self.domain)
    }

    pub(super) fn channel(&self, base: &str) -> String {
        format!("#{}@{}", self.fresh(base), self.domain)
    }

    pub(super) fn raw(&self) -> Result<Raw, Fail> {
        Raw::connect(&self.dial)
    }

    /// A connection identified as a fresh user.
    pub(super) fn client(&self, base: &str) -> Result<(Raw, String), Fail> {
        let mut c = self.raw()?;
        let user = self.user(base);
        c.ident(&user)?;
        Ok((c, user))
    }
}

/// Checks, before any case runs, that the server can be reached (TCP, and TLS if asked),
/// serves `--domain` and answers an Ident with an Ident reply the cases can use, and that
/// `--account` and `--admin` log in: otherwise every case (or every account case) would fail with the same
/// cause, burying it. (A server that admits accounts only stops the run here: every case
/// identifies as names of its own.)
pub fn preflight(ctx: &Ctx) -> Result<(), Fail> {
    let server = &ctx.dial.server;
    let mut c = ctx.raw().map_err(|e| format!("cannot reach {server}: {e}"))?;
    let user = ctx.user("preflight");
    c.send_ident(&user)
        .map_err(|e| format!("cannot reach {server}: {e}"))?;
    match c.reply() {
        Ok(v) if kind(&v) == Some(3) && uint(&v, 9) == Some(400) => Err(format!(
            "{server} does not serve the domain {} (Error 400 foreign_id to an Ident as {user}): \
             give the server's own domain with --domain",
            ctx.domain
        )),
        Err(_) if c.got_tls() => Err(format!(
            "{server} answered in TLS: give --tls, --ca FILE or --pin FINGERPRINT"
        )),
        // Nearly every case starts with an Ident: one fault here would fail them all alike
        // (found by an outside implementer), so it is said once.
        Err(e) => Err(format!(
            "{server}'s answer to an Ident as {user} cannot be read: {e}; every case needs one"
        )),
        Ok(v) => ident_reply(&v).map_err(|e| format!("{server}: Ident as {user}: {e}; every case needs one")),
    }?;
    // Said once, not as a failure of every account case (found by QA).
    for (flag, login) in [("--account", &ctx.account), ("--admin", &ctx.admin)] {
        if let Some((id, pw)) = login {
            accounts::logged_in(ctx, id, pw).map_err(|e| {
                format!(
                    "{flag} {id} cannot log in: {e} (make it with `scalard account add {id}`, \
                     or give its password)"
                )
            })?;
        }
    }
    Ok(())
}

/// One case.
pub struct Case {
    /// Its name, for `--only` and the report.
    pub name: &'static str,
    /// The section of docs/PROTOCOL.md it checks.
    pub section: &'static str,
    /// The check.
    pub run: fn(&Ctx) -> Result<Verdict, Fail>,
}

macro_rules! cases {
    ($( $module:ident :: $name:ident, $section:literal; )*) => {
        /// Every case, in the order they run.
        pub const ALL: &[Case] = &[$( Case { name: stringify!($name), section: $section, run: $module::$name }, )*];
    };
}

cases! {
    framing::empty_frame_is_answered_and_the_connection_stays, "§2";
    framing::length_16383_is_fatal, "§2";
    framing::length_ffff_is_fatal, "§2";
    framing::a_frame_written_a_byte_at_a_time, "§2";
    framing::two_frames_in_one_write, "§2";
    framing::bytes_after_the_item_are_malformed, "§2";
    framing::a_truncated_item_is_malformed, "§2";
    framing::indefinite_lengths_are_malformed, "§3";
    framing::tags_are_malformed, "§3";
    framing::nesting_16_is_fine_17_is_not, "§3";
    framing::invalid_utf8_is_bad_utf8, "§3";
    framing::a_non_shortest_integer_is_accepted, "§3";
    session::a_payload_that_is_not_a_map_is_malformed, "§4";
    session::no_type_is_malformed, "§4";
    session::an_unknown_type_is_103_and_not_fatal, "§4";
    session::a_missing_field_is_104, "§4";
    session::unknown_keys_are_ignored, "§4";
    session::ignored_keys_are_never_forwarded, "§4";
    session::a_null_value_is_absent, "§4";
    session::an_error_carries_seq_read_before_the_fault, "§4 Error";
    session::requests_before_ident_are_fatal, "§8";
    session::pong_before_ident_is_fatal, "§8";
    session::ident_reply_has_domain_and_timers, "§4 Ident";
    session::a_bare_name_is_completed, "§4 Ident";
    session::a_guest_name_asked_for_is_the_server_s_to_assign, "§4 Ident";
    session::a_foreign_id_is_400, "§4 Ident";
    session::no_common_version_is_fatal, "§4 Ident";
    session::a_second_ident_is_201, "§8";
    session::a_channel_as_id_is_300, "§5";
    session::ping_is_answered_with_the_same_time_and_seq, "§4 Ping";
    session::a_client_sending_an_event_is_205, "§8";
    session::a_long_reason_is_304_and_the_bye_ignored, "§4 Bye";
    session::bye_closes_the_connection, "§4 Bye";
    session::a_server_only_message_from_a_client_is_205, "§8";
    session::an_error_without_a_readable_seq_has_none, "§4 Error";
    session::a_repeated_key_is_refused_or_one_wins, "§4";
    session::ident_offering_several_versions_gets_one, "§4 Ident";
    session::a_bad_topic_is_301, "§5";
    session::uppercase_names_are_bad, "§5";
    session::a_domain_over_93_bytes_is_bad, "§5";
    session::an_ident_with_an_unknown_auth_is_607_or_refused, "§4 Authentication";
    session::auth_without_a_challenge_is_stale, "§4 Authentication";
    session::grant_needs_a_login, "§4 Other domains";
    framing::a_cbor_fault_after_a_bad_field_comes_first, "§8 Precedence";
    session::verify_of_an_unknown_token_is_no, "§4 Other domains";
    session::verify_of_another_domain_s_user_is_foreign_id, "§4 Other domains";
    messages::the_echo_carries_seq_from_time_and_a_true_id, "§4 Message, §7";
    messages::fanout_reaches_each_subscriber_once, "§4 Message";
    messages::publishing_unsubscribed_is_403, "§4 Message";
    messages::publishing_to_a_reserved_name_is_402, "§4 Message";
    messages::a_foreign_topic_is_401, "§4 Message";
    messages::a_dm_to_nobody_is_404, "§4 Message";
    messages::a_dm_reaches_every_connection_of_the_user, "§4 Message";
    messages::the_largest_body_passes_one_more_byte_is_302, "§6";
    messages::a_bad_ctype_is_303, "§4";
    messages::sub_and_unsub_answer_meta, "§4 Sub";
    messages::a_user_id_is_watched_and_a_reserved_name_refused, "§4 Sub";
    messages::topics_lists_the_channel, "§4 Topics";
    messages::a_from_in_a_message_is_ignored, "§4 Message";
    messages::the_echo_goes_to_the_sending_connection_only, "§4 Message";
    messages::carbons_copy_a_dm_to_the_connections_that_asked, "§4 Message";
    messages::a_blob_body_keeps_its_bytes_and_ctype, "§4 Message";
    messages::a_reply_to_is_carried, "§4 Message";
    messages::a_malformed_reply_to_is_100, "§4 Message";
    messages::a_dm_to_yourself_arrives_once, "§4 Message";
    messages::times_increase_per_topic, "§4 Message";
    messages::sub_and_unsub_are_idempotent, "§4 Sub";
    messages::a_disconnect_unsubscribes, "§4 Sub";
    messages::topics_with_count_0_gives_the_total_only, "§4 Topics";
    messages::topics_pages_are_at_most_100, "§4 Topics";
    history::catchup_replays_or_says_unavailable, "§4 Catchup";
    history::catchup_needs_a_subscription, "§4 Catchup";
    history::catchup_count_0_replays_nothing, "§4 Catchup";
    history::catchup_pages_backward_with_before, "§4 Catchup";
    history::catchup_pages_forward_with_after, "§4 Catchup";
    history::catchup_of_an_unknown_id_is_status_3, "§4 Catchup";
    history::catchup_between_two_times, "§4 Catchup";
    history::catchup_of_a_reserved_name_is_unavailable, "§4 Catchup";
    history::your_own_id_reads_your_direct_messages, "§4 Catchup";
    history::another_id_reads_the_conversation, "§4 Catchup";
    history::a_free_name_taken_again_reads_nothing_it_got_before, "§4 Catchup";
    history::conversations_list_both_directions, "§4 Conversations";
    history::conversations_page_by_cursor_and_since, "§4 Conversations";
    history::search_finds_whole_words, "§4 Search";
    history::search_words_end_at_emoji, "§4 Search";
    history::search_finds_chinese_and_japanese_characters_in_a_row, "§4 Search";
    history::search_finds_korean_syllables_in_a_row, "§4 Search";
    history::search_ignores_accents_typed_either_way, "§4 Search";
    history::an_empty_query_is_malformed, "§4 Search";
    timers::timer_handshake_timeout_closes_a_silent_connection, "§8";
    timers::timer_an_idle_client_is_pinged, "§4 Ping";
    timers::timer_an_unanswered_ping_closes, "§4 Ping, §9";
    timers::the_subscription_limit_is_502, "§9";
    accounts::a_right_password_logs_in, "§4 Authentication";
    accounts::a_wrong_password_is_601, "§4 Authentication";
    accounts::a_replayed_auth_is_606, "§4 Authentication";
    accounts::an_ident_during_a_challenge_starts_over, "§4 Authentication";
    accounts::a_registered_name_without_its_password_is_600, "§4 Ident";
    accounts::a_token_is_vouched_for_its_audience_only, "§4 Other domains";
    accounts::a_second_auth_after_login_is_201, "§8";
    accounts::set_password_with_a_wrong_current_one_is_601, "§4 Changing a password";
    accounts::set_password_closes_the_account_s_other_sessions, "§4 Changing a password";
    accounts::a_dm_to_an_away_account_waits_in_its_inbox, "§4 Message";
    accounts::a_blocked_sender_is_801_until_unblocked, "§4 Blocks";
    accounts::registered_only_on_one_s_id_is_805_to_names_nobody_proved, "§4 Blocks";
    accounts::a_read_marker_moves_forward_only_and_reaches_the_other_sessions, "§4 Read markers";
    accounts::a_read_marker_needs_a_login_here_and_a_channel_or_user, "§4 Read markers";
    more::the_largest_frame_is_accepted, "§2";
    more::a_length_split_across_writes, "§2";
    more::a_hundred_pipelined_pings_in_order, "§8";
    more::an_empty_frame_before_ident_does_not_end_the_handshake, "§8";
    more::reserved_additional_information_is_malformed, "§3";
    more::a_two_byte_simple_value_below_32_is_malformed, "§3";
    more::negative_and_text_keys_are_ignored, "§4";
    more::undefined_and_negative_values_in_unknown_keys_are_ignored, "§3";
    more::a_type_that_is_text_is_malformed, "§4";
    more::a_type_that_is_true_is_malformed, "§4";
    more::a_null_type_is_malformed, "§4";
    more::a_seq_over_32_bits_is_malformed_without_seq, "§4";
    more::seq_0_and_the_largest_seq_are_echoed, "§8";
    more::no_versions_is_malformed, "§4 Ident";
    more::nine_versions_are_malformed, "§4 Ident";
    more::an_ident_without_user_is_104, "§4 Ident";
    more::grant_before_ident_is_fatal, "§8";
    more::an_empty_text_body_is_a_message, "§4 Message";
    more::a_ctype_of_64_passes_65_is_303, "§4 Message";
    more::an_action_ctype_is_carried, "§4 Message";
    more::a_topic_of_127_bytes_passes_128_is_301, "§5, §6";
    more::unsub_of_a_bad_topic_is_301, "§4 Sub";
    more::a_cursor_that_is_no_name_is_refused, "§5, §9";
    more::unsub_never_subscribed_answers_meta_false, "§4 Sub";
    more::a_dm_is_not_echoed_to_the_senders_other_connections, "§4 Message";
    more::the_echo_of_a_dm_keeps_the_recipient_as_topic, "§4 Message";
    more::watching_an_id_gets_none_of_its_direct_messages, "§4 Sub";
    more::catchup_replays_carry_the_seq_and_end_with_the_topic, "§4 Catchup";
    more::catchup_since_0_reads_from_the_start, "§4 Catchup";
    more::catchup_until_pages_backward, "§4 Catchup";
    more::catchup_of_a_foreign_topic_is_401, "§4 Catchup";
    more::search_pages_with_more, "§4 Search";
    more::search_of_a_long_query_is_304, "§4 Search";
    more::a_bye_with_code_0_gets_no_bye_back, "§8";
    more::topics_start_past_the_end_is_empty, "§4 Topics";
    more::verify_before_ident_is_allowed_and_ident_still_works, "§8";
    flow::fanout_keeps_the_order_of_a_burst, "§4 Message";
    flow::topics_pages_list_every_channel_once, "§4 Topics";
    flow::a_slow_consumer_gets_an_unbroken_run_then_503, "§9";
    channels::the_first_subscriber_owns_the_channel, "§4 Channels";
    channels::mod_needs_an_operator_and_its_record_reaches_everyone, "§4 Channels";
    channels::a_kick_sends_the_record_then_803_with_the_channel, "§4 Channels";
    channels::an_invitation_lets_in_until_it_is_withdrawn, "§4 Channels";
    channels::an_invitation_pattern_lets_in_the_ids_it_matches, "§4 Channels";
    channels::an_exception_spares_whom_it_matches_from_a_ban, "§4 Channels";
    channels::only_the_owner_hands_a_channel_over, "§4 Channels";
    channels::set_meta_answers_meta_and_is_for_operators, "§4 SetMeta";
    channels::a_channel_rate_is_806_with_how_long_to_wait, "§8 Waits";
    channels::a_join_rate_is_810_with_how_long_to_wait, "§4 SetMeta";
    channels::members_lists_each_id_once_with_its_role, "§4 Members";
    channels::members_pages_by_cursor, "§4 Members";
    channels::a_members_query_lists_only_the_ids_that_match, "§4 Members";
    channels::targets_lists_the_bans_to_operators_only, "§4 Targets";
    channels::a_watcher_sees_presence_and_the_sender_its_echo, "§4 Presence";
    channels::clients_cannot_publish_the_server_s_content_types, "§4 Channels";
    channels::topics_pages_after_a_cursor_with_counts, "§4 Topics";
    channels::a_topics_query_lists_only_the_channels_that_match, "§4 Topics";
    channels::joins_and_leaves_are_told_to_who_asked, "§4 Joins and leaves";
    channels::what_a_closed_life_said_stays_with_it, "§4 Catchup";
    channels::an_operator_s_delete_takes_a_message_out_of_history, "§4 Channels";
    channels::a_member_deletes_its_own_message_not_another_s, "§4 Channels";
    channels::an_operator_s_purge_takes_an_id_s_messages_out_of_history, "§4 Channels";
    channels::a_timed_ban_ends_by_itself, "§4 Channels";
    channels::a_timed_mute_ends_by_itself, "§4 Channels";
    channels::an_until_over_366_days_ahead_is_100, "§4 Channels";
    channels::a_query_of_0_or_257_bytes_is_refused, "§4 Topics, Members";
    channels::a_targets_cursor_is_a_pattern_or_a_range, "§4 Targets";
    channels::a_kept_channel_s_roles_are_for_accounts_only, "§4 Channels";
    channels::a_banned_guest_s_address_keeps_the_next_guest_out, "§4 Channels";
    modes::set_meta_records_each_change_in_order_before_its_meta, "§4 SetMeta";
    modes::set_meta_refuses_what_its_fields_cannot_hold, "§4 SetMeta";
    modes::a_moderated_channel_hears_voices_and_operators_only, "§4 SetMeta";
    modes::private_members_are_listed_to_operators_only, "§4 SetMeta";
    modes::a_registered_only_channel_admits_logins_and_invitations, "§4 SetMeta";
    modes::a_secret_channel_is_listed_to_its_members_only, "§4 SetMeta";
    modes::undoing_what_is_not_there_is_404_and_records_nothing, "§4 Channels";
    modes::the_owner_is_out_of_an_operator_s_reach, "§4 Channels";
    modes::each_action_takes_only_its_kind_of_target, "§4 Channels";
    modes::presence_is_told_as_it_changes_and_only_then, "§4 Presence";
    modes::set_presence_refuses_what_it_cannot_say, "§4 Presence";
    modes::an_unsub_reason_is_said_only_where_the_user_may_speak, "§4 Joins and leaves";
    modes::joins_in_a_private_members_channel_are_told_to_who_runs_it, "§4 Joins and leaves";
    precedence::a_message_s_and_a_sub_s_faults_in_order, "§8 Precedence";
    precedence::a_mod_s_faults_in_order, "§8 Precedence";
    precedence::an_ident_s_faults_in_order, "§8 Precedence";
    precedence::set_password_checks_its_fields_then_the_login, "§4 Changing a password";
    precedence::registering_what_cannot_be_registered, "§4 Authentication";
    precedence::the_server_s_names_are_its_admins_only, "§4 Server admins";
    precedence::blocks_are_one_s_own_and_need_a_login, "§4 Blocks";
    accounts::a_block_ends_a_watch_and_is_listed, "§4 Blocks";
    accounts::an_auth_s_faults_in_order, "§8 Precedence";
    accounts::a_129th_read_marker_forgets_the_one_moved_longest_ago, "§4 Read markers";
    history::search_a_starred_word_and_a_query_without_words, "§4 Search";
    admins::an_admin_s_kill_closes_every_connection_of_the_id, "§4 Server admins";
    admins::a_server_ban_closes_and_keeps_out_until_lifted, "§4 Server admins";
    admins::a_wall_reaches_every_identified_connection, "§4 Server admins";
    admins::a_new_ban_s_range_is_written_as_it_is_listed, "§4 Server admins";
    history::a_page_that_holds_exactly_what_is_left_is_complete, "§4 Catchup";
    history::an_anchor_of_another_topic_is_status_3, "§4 Catchup";
    history::catchup_keeps_to_every_bound_given, "§4 Catchup";
    history::a_conversation_s_catchup_end_names_the_topic_asked, "§4 Catchup";
    history::search_finds_the_topic_s_events_only, "§4 Search";
    history::search_pages_by_before_and_after, "§4 Search";
    history::search_never_matches_a_blob_body, "§4 Search";
    timers::the_subscription_limit_counts_watches_not_repeats, "§4 Sub, §9";
    messages::a_subscribed_sender_gets_its_echo_alone, "§4 Message";
    messages::a_dm_to_yourself_reaches_a_carbons_connection_once, "§4 Message";
    session::a_server_only_message_before_ident_is_200, "§8 Precedence";
    session::a_bye_without_code_is_104_and_ignored, "§4 Bye";
    more::an_unsub_reason_over_256_bytes_is_304, "§4 Sub";
    more::a_catchup_without_count_is_104, "§4 Catchup";
    framing::a_tls_client_hello_on_a_plain_port_is_refused_at_once, "§1";
    channels::a_ban_s_reason_is_told_in_the_801, "§4 Channels";
    channels::a_mute_s_reason_is_told_in_the_802, "§4 Channels";
    admins::a_server_ban_s_reason_is_told_in_the_807, "§4 Server admins";
    accounts::a_yes_vouch_says_when_the_token_expires, "§4 Other domains";
    session::a_guest_id_is_not_given_to_the_next_session, "§4 Ident";
    session::a_guest_id_is_made_of_the_name_asked_for_and_kept, "§4 Ident";
    flow::pipelined_catchups_are_answered_not_cut_off, "§9";
}

/// The extension types' numbers (§4: 64 and above).
pub(super) const MOD: u64 = 64;
/// See [`MOD`].
pub(super) const SET_META: u64 = 65;
/// See [`MOD`].
pub(super) const SET_PRESENCE: u64 = 66;
/// See [`MOD`].
pub(super) const MEMBERS: u64 = 67;
/// See [`MOD`].
pub(super) const TARGETS: u64 = 69;

/// Checks that `v` is Error `code` answering the request `seq`; `what` names the request.
pub(super) fn refused(v: &Value, code: u64, seq: u64, what: &str) -> Result<(), Fail> {
    match (kind(v), uint(v, 9), uint(v, 1)) {
        (Some(3), Some(c), Some(s)) if c == code && s == seq => Ok(()),
        _ => Err(format!("{what}: expected Error {code}, got {}", show(v))),
    }
}

/// Sends `request`; `Err(Skip)` if the server does not know its type (103).
pub(super) fn ask(c: &mut Raw, request: &Value) -> Result<Result<Value, Verdict>, Fail> {
    c.send(request)?;
    let v = c.reply()?;
    if kind(&v) == Some(3) && uint(&v, 9) == Some(103) {
        return Ok(Err(Verdict::Skip(
            "the server does not implement this extension".into(),
        )));
    }
    Ok(Ok(v))
}

/// A Targets request: a page of `count` of the list that `action` adds to, on `topic`, after
/// `cursor` if given.
pub(super) fn targets(seq: u64, topic: &str, action: u64, count: u64, cursor: Option<&str>) -> Value {
    let mut fields = vec![
        (0, u(TARGETS)),
        (1, u(seq)),
        (2, t(topic)),
        (15, u(count)),
        (36, u(action)),
    ];
    fields.extend(cursor.map(|c| (45, t(c))));
    map(&fields)
}

/// Whether `list` is a TargetList whose page holds `entry`.
pub(super) fn lists(list: &Value, entry: &str) -> bool {
    let page = get(list, 51).and_then(Value::as_array);
    kind(list) == Some(70) && page.is_some_and(|p| p.iter().any(|e| e.as_text() == Some(entry)))
}

/// A Mod of `action` on `target` in `channel`.
pub(super) fn moderate(seq: u64, channel: &str, action: u64, target: &str) -> Value {
    moderate_with(seq, channel, action, target, &[])
}

/// [`moderate`] with `extra` fields too (an `until`, a `reason`).
pub(super) fn moderate_with(
    seq: u64,
    channel: &str,
    action: u64,
    target: &str,
    extra: &[(u64, Value)],
) -> Value {
    let mut fields = vec![
        (0, u(MOD)),
        (1, u(seq)),
        (2, t(channel)),
        (36, u(action)),
        (37, t(target)),
    ];
    fields.extend_from_slice(extra);
    fields.sort_by_key(|(k, _)| *k);
    map(&fields)
}

pub(super) fn ping(seq: u64, time: u64) -> Value {
    map(&[(0, u(4)), (1, u(seq)), (4, u(time))])
}

pub(super) fn expect_pong(c: &mut Raw, seq: Option<u64>, time: u64) -> Result<(), Fail> {
    let v = c.reply()?;
    if kind(&v) == Some(5) && uint(&v, 4) == Some(time) && uint(&v, 1) == seq {
        return Ok(());
    }
    Err(format!(
        "expected Pong, time {time}, seq {seq:?}; got {}",
        show(&v)
    ))
}

/// A Ping payload with raw bytes for one unknown key (40) appended: `{0: 4, 1: 9, 4: 1, 40: X}`.
pub(super) fn ping_with(extra_value: &[u8]) -> Vec<u8> {
    let mut p = vec![0xa4, 0x00, 0x04, 0x01, 0x09, 0x04, 0x01, 0x18, 0x28];
    p.extend_from_slice(extra_value);
    p
}

pub(super) fn malformed_then_alive(x: &Ctx, payload: &[u8], code: u64) -> Result<Verdict, Fail> {
    faulty_then_alive(x, payload, code, None)
}

/// Sends `payload` as a frame: the Error `code` comes back (with `seq`, if given: one the
/// server could read), and the connection still answers a Ping.
pub(super) fn faulty_then_alive(
    x: &Ctx,
    payload: &[u8],
    code: u64,
    seq: Option<u64>,
) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("mf")?;
    c.bytes(&frame(payload))?;
    c.expect_error(code, seq)?;
    c.send(&ping(3, 11))?;
    expect_pong(&mut c, Some(3), 11)?;
    Ok(Pass)
}

/// Idents as `user` asking for the optional feature of Ident key `key` (§11): `Err` with the
/// skip when the reply does not grant it, a failure when it grants it wrongly.
pub(super) fn asking(c: &mut Raw, user: &str, key: u64, name: &str) -> Result<Result<(), Verdict>, Fail> {
    c.send_ident_with(user, &[(key, Value::Bool(true))])?;
    let reply = c.reply()?;
    ident_reply(&reply).map_err(|e| format!("Ident with {name}: {e}"))?;
    match get(&reply, key) {
        None => Ok(Err(Verdict::Skip(format!("the Ident reply grants no {name}")))),
        Some(Value::Bool(true)) => Ok(Ok(())),
        Some(other) => Err(format!("the Ident reply's {name} is {other:?}, not true")),
    }
}

/// Checks that nothing reaches `c` before the Pong to a Ping sent now (read frame by frame:
/// [`Raw::reply`] would pass over Events without `seq`); `what` names the connection.
pub(super) fn nothing_before_a_pong(c: &mut Raw, what: &str) -> Result<(), Fail> {
    c.send(&ping(99, 99))?;
    let v = c.next()?;
    match kind(&v) {
        Some(5) => Ok(()),
        _ => Err(format!("{what} got {} before its Pong", show(&v))),
    }
}

/// Checks that `e` is an Event the server made on `topic` from `from`, without `seq`, whose
/// body is `body` and content type `ctype` (a record, a presence, a join).
pub(super) fn told(e: &Value, from: &str, topic: &str, body: &str, ctype: &str) -> Result<(), Fail> {
    check_event(e, from, topic, body).map_err(|_| {
        format!(
            "expected {from}'s {body:?} on {topic}, got {}: {:?}",
            show(e),
            text(e, 6)
        )
    })?;
    match (text(e, 7), get(e, 1)) {
        (Some(c), None) if c == ctype => Ok(()),
        _ => Err(format!(
            "{body:?}: expected ctype {ctype} and no seq, got {}",
            show(e)
        )),
    }
}

/// Checks an Event's fields against what was sent, and its id (§7).
pub(super) fn check_event(e: &Value, from: &str, topic: &str, body: &str) -> Result<(), Fail> {
    // §4 key 4: milliseconds since 1970. The server's clock need not agree with the suite's,
    // but no Event of a running server is older than 2020: a time before it was written in
    // seconds (found by an outside implementer, whose Events in seconds passed every case).
    const Y2020_MS: u64 = 1_577_836_800_000;
    if let Some(time) = uint(e, 4).filter(|&t| t < Y2020_MS) {
        return Err(format!(
            "the Event's time {time} is before 2020 as milliseconds since 1970 (§4, key 4 \
             time): seconds, or another unit?"
        ));
    }
    if text(e, 3) != Some(from)
        || text(e, 2) != Some(topic)
        || text(e, 6) != Some(body)
        || uint(e, 4).is_none()
    {
        return Err(format!("Event fields differ from what was sent: {e:?}"));
    }
    let id = get(e, 5).and_then(Value::as_bytes).cloned();
    match (id, event_id(e)) {
        (Some(id), Some(want)) if id == want => Ok(()),
        _ => Err("the Event's id is not the SHA-256 of §7's array".into()),
    }
}

/// Publishes `bodies` to a fresh channel the client subscribes to; returns it and the echoes.
pub(super) fn fill(c: &mut Raw, x: &Ctx, bodies: &[&str]) -> Result<(String, Vec<Value>), Fail> {
    let ch = x.channel("h");
    c.sub(&ch, 2)?;
    let mut echoes = Vec::new();
    for (i, b) in bodies.iter().enumerate() {
        echoes.push(c.say(&ch, b, 100 + i as u64)?);
    }
    Ok((ch, echoes))
}

/// Sends a Catchup (or Search, with `query`) with extra fields; returns the bodies replayed
/// and the CatchupEnd's (status, count).
pub(super) fn catchup(
    c: &mut Raw,
    topic: &str,
    extra: &[(u64, Value)],
    query: Option<&str>,
) -> Result<(Vec<String>, u64, u64), Fail> {
    let mut pairs = vec![
        (0, u(if query.is_some() { 15 } else { 13 })),
        (1, u(50)),
        (2, t(topic)),
    ];
    pairs.extend(extra.iter().cloned());
    if let Some(q) = query {
        pairs.push((25, t(q)));
    }
    pairs.sort_by_key(|(k, _)| *k);
    c.send(&map(&pairs))?;
    let mut got = Vec::new();
    loop {
        let v = c.reply()?;
        match kind(&v) {
            Some(7) if uint(&v, 1) == Some(50) => got.push(text(&v, 6).unwrap_or("").to_string()),
            Some(14) => {
                let status = uint(&v, 22).ok_or("CatchupEnd without status")?;
                let count = uint(&v, 15).ok_or("CatchupEnd without count")?;
                if count != got.len() as u64 {
                    return Err(format!("CatchupEnd count {count}, but {} Events came", got.len()));
                }
                return Ok((got, status, count));
            }
            _ => return Err(format!("during a Catchup: {}", show(&v))),
        }
    }
}

/// A channel owned by a fresh client, with a second fresh client in it: (channel, owner's
/// connection, owner's ID, member's connection, member's ID).
pub(super) fn two_in_a_channel(x: &Ctx, base: &str) -> Result<(String, Raw, String, Raw, String), Fail> {
    let ch = x.channel(base);
    let (mut a, owner) = x.client(&format!("{base}a"))?;
    let (mut b, member) = x.client(&format!("{base}b"))?;
    a.sub(&ch, 2)?;
    b.sub(&ch, 2)?;
    Ok((ch, a, owner, b, member))
}

/// Skips a history case on a server that keeps none.
pub(super) fn needs_history(c: &mut Raw, x: &Ctx) -> Result<Option<Verdict>, Fail> {
    let (ch, _) = fill(c, x, &["probe"])?;
    let (_, status, _) = catchup(c, &ch, &[(15, u(1))], None)?;
    Ok((status == 2).then(|| Verdict::Skip("the server keeps no history".into())))
}

/// A fresh client subscribed to a fresh channel sends `msg(channel)` with `seq` 3, which must
/// be refused with `code`: how most single-field checks look.
pub(super) fn refused_in_channel(
    x: &Ctx,
    base: &str,
    msg: impl Fn(&str) -> Vec<(u64, Value)>,
    code: u64,
) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client(base)?;
    let ch = x.channel(base);
    c.sub(&ch, 2)?;
    let mut pairs = vec![(1, u(3))];
    pairs.extend(msg(&ch));
    pairs.sort_by_key(|(k, _)| *k);
    c.send(&map(&pairs))?;
    c.expect_error(code, Some(3))?;
    Ok(Pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `s` with every run of whitespace one space: PROTOCOL.md breaks its lines anywhere.
    fn flat(s: &str) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Each SHOULD the suite reports as advisory is one PROTOCOL.md states, in its words: a
    /// rule reworded, or made a MUST, fails here rather than leaving the suite lenient.
    #[test]
    fn each_should_is_quoted_from_the_protocol() {
        let spec = flat(include_str!("../../../../docs/PROTOCOL.md"));
        // Every `Should` above (a new one goes here too).
        let shoulds = [
            CLIENT_HELLO,
            AWAY_INBOX,
            REGISTERED_ONLY_ID,
            RETRY_AFTER,
            STARRED_WORD,
            BAN_REASON,
            MUTE_REASON,
            SERVER_BAN_REASON,
            VOUCH_UNTIL,
            GUEST_NAME,
            GUEST_ID_ONCE,
            PIPELINE_PUSHBACK,
        ];
        for should in shoulds {
            assert!(
                should.says.contains("SHOULD") && spec.contains(&flat(should.says)),
                "{should:?}"
            );
        }
    }
}
