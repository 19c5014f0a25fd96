"""Invite rewards (邀请有礼): campaigns, invite links, anti-fraud, rewards and the referral tree."""
