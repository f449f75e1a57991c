#import <Foundation/Foundation.h>
@interface Adder : NSObject
+ (long long)add:(long long)a to:(long long)b;
@end
@implementation Adder
+ (long long)add:(long long)a to:(long long)b { return a + b; }
@end
int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    printf("%lld\n", [Adder add:a to:b]);
    return 0;
}
