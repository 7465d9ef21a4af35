#!/usr/bin/perl
# Reads each file named on the command line with Sisimai (Debian's libsisimai-perl, 4.25: Sisimai->make;
# Sisimai 5 renamed it rise) and prints one JSON line per file: the path and what Sisimai found in it.
# A file that makes Sisimai die is printed with an "error" and no recipients, so the bench counts it as a miss.
use strict;
use warnings;
use JSON::PP;
use Sisimai;

my $json = JSON::PP->new->canonical(1);

# Sisimai 5 says hardbounce (true/false); 4.x says softbounce (1 soft, 0 hard, -1 not a failure).
sub hard {
    my $each = shift;
    return $each->hardbounce if $each->can('hardbounce');
    return defined $each->softbounce && $each->softbounce == 0;
}
my $read = Sisimai->can('rise') ? 'rise' : 'make';
for my $path (@ARGV) {
    my @found;
    my $error = '';
    eval {
        open(my $fh, '<:raw', $path) or die "cannot open $path: $!";
        local $/;
        my $text = <$fh>;
        close($fh);
        my $results = Sisimai->$read(\$text, 'delivered' => 1) || [];
        for my $each (@$results) {
            push @found, {
                'recipient'      => $each->recipient->address,
                'reason'         => $each->reason // '',
                'deliverystatus' => $each->deliverystatus // '',
                'hardbounce'     => hard($each) ? JSON::PP::true : JSON::PP::false,
                'smtpagent'      => $each->smtpagent // '',
            };
        }
        1;
    } or do { $error = "$@" || 'failed'; @found = () };
    print $json->encode({ 'path' => $path, 'recipients' => \@found, 'error' => $error }), "\n";
}
